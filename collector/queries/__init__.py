"""Read queries shared by the JSON API (collector/api/routes) and the web UI (collector/web):
one definition of what a list holds, how it is filtered and scoped to an organization, so a
page and the API never disagree (and an overview count is the length of the list it links to).
"""
