"""Loaders, scenario specs, splits and the dataset object used by models."""
