"""The ``edge-perception`` command: ``main`` dispatches, one module per subcommand."""
