"""Importers: an existing project of another tool turned into a meshgen spec.

Each importer lets the tool itself render its project (dbt compiles dbt's Jinja), maps what it
found onto the spec language, and lists in a report whatever it could not carry over.
"""
