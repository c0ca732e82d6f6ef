"""Server-rendered SVG charts for the console: no script, no chart library, escaped text (one module per kind)."""
