"""Graph strategy: a Cypher graph in LadybugDB (portable to Neo4j) with rustworkx algorithms on exported subgraphs."""
