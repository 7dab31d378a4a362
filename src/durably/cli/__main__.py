"""``python -m durably.cli``: the same as the `durably` command."""

from durably.cli import main

main()
