"""Example city configurations shipped with Liaison."""

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent
