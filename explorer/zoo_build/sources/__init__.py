"""Parsers that turn the reference pages and package metadata into zoo rows (used by `explorer.zoo_build.zoo_data`)."""
