"""Knowledge: graph store backends, importers, entity linking, KBQA and verbalisation."""
