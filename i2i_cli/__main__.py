"""``python -m i2i_cli`` (also under ``torchrun -m i2i_cli``)."""

from i2i_cli.cli.app import main

if __name__ == "__main__":
    main()
