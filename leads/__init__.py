"""Companies, leads, BANT qualification, engagement events and teams."""
