"""What several layers share, and nothing that belongs to one of them."""
