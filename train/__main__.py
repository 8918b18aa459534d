"""python -m train"""

from .cli import main

main()
