package sqlite

import (
	"strings"
	"testing"
)

// The inbox's and the pages' queries use the indexes meant for them, not
// a scan of the community's posts (posts_by_community), of a table, or of
// every activity received since a retried one. EXPLAIN QUERY PLAN, on an
// empty database: what is checked is which index the planner can use,
// not how fast.
func TestQueryPlans(t *testing.T) {
	db, _ := openTest(t)
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		want  []string // in the plan's details
	}{
		{"author's recent posts, from the index alone", authorFactsQuery,
			[]any{1, "https://m.example/users/ann", "m.example", 0},
			[]string{"COVERING INDEX posts_by_author"}},
		{"a thread: the root and its replies", threadPostsQuery,
			[]any{1, "https://m.example/notes/1", 20},
			[]string{"INDEX posts_by_thread", "INDEX sqlite_autoindex_posts_1"}},
		{"reply counts", replyCountsQuery(3),
			[]any{1, "https://a/1", "https://a/2", "https://a/3"},
			[]string{"INDEX posts_by_parent"}},
		{"a retried activity's actor's later activities", receivedLaterQuery,
			[]any{7, "Undo", "https://m.example/users/ann", "https://m.example/follows/1"},
			[]string{"INDEX inbox_by_actor (actor=? AND id>?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.r.Query(`EXPLAIN QUERY PLAN `+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			all := strings.Join(plan, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("plan lacks %q:\n%s", w, all)
				}
			}
			for _, bad := range []string{"SCAN posts", "posts_by_community", "SCAN inbox"} {
				if strings.Contains(all, bad) {
					t.Errorf("plan has %q:\n%s", bad, all)
				}
			}
			if strings.Contains(tc.name, "alone") && strings.Contains(all, "SEARCH posts USING INDEX") {
				t.Errorf("posts read from the table:\n%s", all)
			}
		})
	}
}
