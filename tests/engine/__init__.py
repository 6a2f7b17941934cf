"""Tests against a real OpenSearch engine (see opensearch_node.py)."""
