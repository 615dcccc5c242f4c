"""Runtime: the embedded Redis+FalkorDB server and connections to configured services."""
