"""The commerce system: order, inventory, payment, notification, catalogue and user services, each owning its data."""
