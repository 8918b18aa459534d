"""python -m rtdepth"""

from .cli import main

main()
