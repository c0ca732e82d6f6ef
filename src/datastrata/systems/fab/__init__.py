"""The wafer fab: sensor readings with threshold alerts, tiered hot → warm → cold (the article's section 6)."""
