"""SQL of the resources domain.

Every read returns the same columns: the resource ``r``, its author ``u``
(``focushub.content.sql``) and its stored file ``f`` (``file_*`` columns, NULL
for resources without an upload). What the caller may see is decided by the
policies of ``resources`` and ``stored_files``. Only fixed fragments are joined
into a statement; values are bound parameters.
"""

from __future__ import annotations

from focushub.content.sql import AUTHOR_COLUMNS, author_filter, author_join
from focushub.files.service import FILE_COLUMNS

_RESOURCE = (
    "r.id, r.title, r.description, r.category, coalesce(r.tags, '{}') AS tags, r.is_public,"
    " r.downloads_count, r.file_type, r.created_at, r.updated_at,"
    # The keys of the orders by name and size (ORDERS), as PostgreSQL computes them: a
    # cursor carries them, and lower() here must be the very one of the ORDER BY.
    " lower(r.title) AS sort_name, r.file_size AS sort_size"
)

SELECT = (
    f"SELECT {_RESOURCE}, {AUTHOR_COLUMNS}, {FILE_COLUMNS}"
    f" FROM public.resources r {author_join('r')}"
    " LEFT JOIN public.stored_files f ON f.id = r.file_id"
)

INSERT = """
    INSERT INTO public.resources (id, author_id, title, description, file_url, file_name,
        file_size, file_type, category, tags, is_public, file_id)
    VALUES (:id, auth.uid(), :title, :description, :file_url, :file_name, :file_size,
        :file_type, :category, :tags, :is_public, :file_id)
"""

# Visible to the caller, and whether it is theirs: tells 404 from 403.
VISIBLE = "SELECT r.author_id = auth.uid() AS mine FROM public.resources r WHERE r.id = :id"

DELETE = "DELETE FROM public.resources WHERE id = :id RETURNING id"

# Each order of the list: its ORDER BY and the keyset condition after a cursor's values
# (:c_key, :c_id). The public listing has an index in each order (0014, 0063).
ORDERS = {
    "newest": ("r.created_at DESC, r.id DESC", "(r.created_at, r.id) < (:c_key, :c_id)"),
    "downloads": ("r.downloads_count DESC, r.id DESC",
                  "(r.downloads_count, r.id) < (:c_key, :c_id)"),
    # A to Z, letter case ignored: the index's expression, so the order is the index's.
    "name": ("lower(r.title), r.id", "(lower(r.title), r.id) > (:c_key, :c_id)"),
    "size": ("r.file_size DESC, r.id DESC", "(r.file_size, r.id) < (:c_key, :c_id)"),
}

FILTER_PUBLIC = "r.is_public"
FILTER_MINE = "r.author_id = auth.uid()"
FILTER_CATEGORY = "r.category = :category"
FILTER_TAG = "r.tags @> ARRAY[CAST(:tag AS text)]"
FILTER_TYPE = "r.file_type = :file_type"
FILTER_AUTHOR = author_filter("r.author_id")
