"""Core chat: candidate generators, ranking, selection and editorial responses (its component:
`dialog.chat.component`)."""
