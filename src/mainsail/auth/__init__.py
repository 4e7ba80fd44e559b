"""Users, projects, memberships (a role per project), API tokens and the server's authentication."""
