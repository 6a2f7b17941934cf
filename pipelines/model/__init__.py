"""The data model that travels through the item pipelines: page items and their kinds."""
