"""Guardian support bot: the application layer (config, CLI, wiring, i18n, dispatcher, console)."""
