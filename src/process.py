"""Customer lifetime value tool: `python src/process.py` opens the menu; `--help` lists the commands."""
import sys

if __name__ == "__main__":
    try:
        from clv.cli import main

        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before main() took over (while Python imports the tool)
        sys.stderr.write("\ninterrupted; nothing was changed\n")
        sys.exit(130)
