"""The dead-letter topic seen from the operator's side: browse, select and replay what
`marketplace.consumer.dead_letter` set aside (`marketplace dlq list|show|replay`)."""
