"""Training for vsr generators: data, losses, the loop and export (python -m train)."""
