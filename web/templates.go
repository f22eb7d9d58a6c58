package web

import (
	"embed"
	"html/template"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are the server-rendered HTML pages. html/template escapes every
// value; only SummaryHTML output (escaped by construction) is marked safe.
var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))
