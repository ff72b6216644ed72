"""Resources: uploaded learning files (notes, slides, PDFs) with previews and search."""
