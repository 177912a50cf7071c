"""Customer lifetime value tool: `python src/process.py` opens the menu; `--help` lists the commands."""
import sys

from clv.cli import main

if __name__ == "__main__":
    sys.exit(main())
