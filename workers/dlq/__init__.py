"""The dead-letter topic seen from the operator's side: browse, select and replay what
`workers.dead_letter` set aside (`marketplace dlq list|show|replay`)."""
