"""Find anything by its Polytomic id: what it is and which customer organization owns it, through
Polytomic's partner entity lookup. Every role may ask; each lookup is an audited read."""
