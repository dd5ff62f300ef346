"""Short questionnaires that referents send to their members, with plotted results."""
