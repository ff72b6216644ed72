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
    " r.downloads_count, r.file_type, r.created_at, r.updated_at"
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

ORDERS = {
    "newest": ("r.created_at DESC, r.id DESC", "(r.created_at, r.id) < (:c_created_at, :c_id)"),
    "downloads": (
        "r.downloads_count DESC, r.id DESC",
        "(r.downloads_count, r.id) < (:c_downloads, :c_id)",
    ),
}

FILTER_PUBLIC = "r.is_public"
FILTER_MINE = "r.author_id = auth.uid()"
FILTER_CATEGORY = "r.category = :category"
FILTER_TAG = "r.tags @> ARRAY[CAST(:tag AS text)]"
FILTER_TYPE = "r.file_type = :file_type"
FILTER_AUTHOR = author_filter("r.author_id")
