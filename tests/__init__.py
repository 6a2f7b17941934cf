"""Tests for portalnews."""
