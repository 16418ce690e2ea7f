"""One module per `vsr` command; vsr.cli assembles them into the typer app. Shared option
definitions live in vsr.commands.options, the one-line error handling in vsr.commands.common."""
