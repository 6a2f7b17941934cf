"""Vietnamese text, date and number normalisation: pure functions, no I/O."""
