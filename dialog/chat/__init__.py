"""Core chat: candidate generators, ranking, selection and editorial responses."""
