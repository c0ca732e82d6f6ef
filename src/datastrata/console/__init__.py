"""The browser console: server-rendered pages over every system, served by ``datastrata serve`` under ``/console``."""
