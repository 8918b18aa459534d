"""python -m rtdepth"""

from rtdepth.cli import main

main()
