"""Spiders of the portalnews project."""
