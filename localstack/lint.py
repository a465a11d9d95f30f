"""Our own schema lint: the risks Supabase's database linter (splinter) flags,
checked against the catalog of a migrated database.

`public` is the schema PostgREST exposes; `private` is ours but not exposed.
Objects that belong to an extension are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

EXPOSED_SCHEMAS = ["public"]
OWNED_SCHEMAS = ["public", "private"]


@dataclass(frozen=True, order=True)
class Finding:
    check: str
    target: str

    def __str__(self) -> str:
        return f"{self.check}: {self.target}"


# Each check: name -> a query returning one text column (the object it flags),
# with %(exposed)s and %(owned)s as schema-name arrays.
CHECKS: dict[str, str] = {
    "rls_disabled_in_public": """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname = any(%(exposed)s) and not c.relrowsecurity
          and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
    """,
    "rls_disabled_in_owned_schema": """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname = any(%(owned)s) and not c.relrowsecurity
          and not c.relispartition
          and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
    """,
    "policy_exists_rls_disabled": """
        select format('%%I.%%I: %%s', n.nspname, c.relname, p.polname)
        from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(owned)s) and not c.relrowsecurity
    """,
    "rls_enabled_no_policy": """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname = any(%(exposed)s) and c.relrowsecurity
          and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
    """,
    "security_definer_view": """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('v', 'm') and n.nspname = any(%(exposed)s)
          and not coalesce(c.reloptions @> array['security_invoker=true']
                           or c.reloptions @> array['security_invoker=on'], false)
    """,
    "materialized_view_in_api": """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'm' and n.nspname = any(%(exposed)s)
    """,
    "function_search_path_mutable": """
        select format('%%s', p.oid::regprocedure)
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%(owned)s) and p.prokind in ('f', 'p')
          and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) cfg where cfg like 'search_path=%%')
          and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
    """,
    "security_definer_function_executable_by_api": """
        select format('%%s executable by %%s', p.oid::regprocedure, r.rolname)
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        cross join (values ('anon'), ('authenticated')) r(rolname)
        where n.nspname = any(%(exposed)s) and p.prosecdef
          and has_function_privilege(r.rolname, p.oid, 'execute')
          and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
    """,
    "auth_rls_initplan": """
        select format('%%I.%%I: %%s', n.nspname, c.relname, p.polname)
        from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
        cross join lateral (
          select lower(coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' '
                       || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')) as body
        ) e
        where n.nspname = any(%(owned)s)
          and (regexp_replace(e.body,
                              '\\(\\s*select\\s+(auth\\.(uid|jwt|role|email)\\(\\)|current_setting\\([^)]*\\))(\\s+as\\s+\\w+)?\\s*\\)',
                              '', 'g')
               ~ '(auth\\.(uid|jwt|role|email)\\(\\)|current_setting\\()')
    """,
    "rls_references_user_metadata": """
        select format('%%I.%%I: %%s', n.nspname, c.relname, p.polname)
        from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(owned)s)
          and (coalesce(pg_get_expr(p.polqual, p.polrelid), '') || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
              ~* 'user_metadata'
    """,
    "rls_policy_always_true": """
        select format('%%I.%%I: %%s', n.nspname, c.relname, p.polname)
        from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(owned)s) and p.polpermissive and p.polcmd in ('a', 'w', 'd', '*')
          and (pg_get_expr(p.polqual, p.polrelid) = 'true' or pg_get_expr(p.polwithcheck, p.polrelid) = 'true')
    """,
    "multiple_permissive_policies": """
        select format('%%I.%%I %%s for %%s: %%s', n.nspname, c.relname, r.rolname, a.action,
                      string_agg(p.polname, ', ' order by p.polname))
        from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
        cross join lateral unnest(case when p.polroles = '{0}'
                                       then array(select oid from pg_roles where rolname in ('anon', 'authenticated'))
                                       else p.polroles end) as pr(roleid)
        join pg_roles r on r.oid = pr.roleid
        cross join lateral unnest(case p.polcmd when '*' then array['select', 'insert', 'update', 'delete']
                                                 when 'r' then array['select'] when 'a' then array['insert']
                                                 when 'w' then array['update'] else array['delete'] end) as a(action)
        where n.nspname = any(%(owned)s) and p.polpermissive
        group by n.nspname, c.relname, r.rolname, a.action
        having count(*) > 1
    """,
    "duplicate_index": """
        select format('%%I.%%I: %%s', n.nspname, c.relname,
                      string_agg(ic.relname, ', ' order by ic.relname))
        from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
        join pg_class ic on ic.oid = i.indexrelid
        where n.nspname = any(%(owned)s)
        group by n.nspname, c.relname, i.indrelid, i.indkey::text, i.indclass::text,
                 coalesce(pg_get_expr(i.indexprs, i.indrelid), ''), coalesce(pg_get_expr(i.indpred, i.indrelid), '')
        having count(*) > 1
    """,
    "unindexed_foreign_keys": """
        select format('%%I.%%I: %%s', n.nspname, c.relname, con.conname)
        from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
        where con.contype = 'f' and n.nspname = any(%(owned)s)
          and not exists (
            select 1 from pg_index i
            where i.indrelid = con.conrelid
              and (select array_agg(k order by k) from unnest((i.indkey::int2[])[0:cardinality(con.conkey) - 1]) k)
                  = (select array_agg(k order by k) from unnest(con.conkey) k)
          )
    """,
    "no_primary_key": """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and n.nspname = any(%(owned)s) and not c.relispartition
          and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary)
          and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
    """,
    "extension_in_public": """
        select e.extname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
        where n.nspname = any(%(exposed)s)
    """,
    "auth_users_exposed": """
        select format('%%I.%%I', n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_depend d on d.classid = 'pg_rewrite'::regclass
        join pg_rewrite rw on rw.oid = d.objid and rw.ev_class = c.oid
        where c.relkind in ('v', 'm') and n.nspname = any(%(exposed)s)
          and d.refobjid = 'auth.users'::regclass
          and (has_table_privilege('anon', c.oid, 'select') or has_table_privilege('authenticated', c.oid, 'select'))
    """,
}


def lint(conn: psycopg.Connection, exposed: list[str] = EXPOSED_SCHEMAS,
         owned: list[str] = OWNED_SCHEMAS) -> list[Finding]:
    findings = []
    params = {"exposed": exposed, "owned": owned}
    for check, query in CHECKS.items():
        for (target,) in conn.execute(query, params).fetchall():
            findings.append(Finding(check, target))
    return sorted(set(findings))
