"""The ``loomllm`` command's implementation (the entry point is :func:`loomllm.cli.main`)."""
