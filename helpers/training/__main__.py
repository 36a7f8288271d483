"""``python -m helpers.training`` (or ``accelerate launch -m helpers.training``): see
``helpers.training.cli``."""

from helpers.training.cli import main

if __name__ == "__main__":
    main()
