package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// MaxUploadBody bounds the body of a logged-in admin's form: the console's
// community form carries two images of up to MaxImageBytes each. Agora
// reads a body up to this size to its end, so that an image that is too
// large is answered with the form and a message rather than a broken
// connection; a reverse proxy in front should let bodies of this size
// through (README: client_max_body_size).
const MaxUploadBody = 64 << 20

// maxFormText bounds the text fields of a multipart form, all together.
const maxFormText = 1 << 20

// maxFormParts bounds the parts of a multipart form.
const maxFormParts = 200

// upload is a file field of a multipart form as it was read: its bytes,
// or why there are none.
type upload struct {
	Name string // the file name the browser gave
	Data []byte // nil when too large
	Size int64  // bytes received (at least, when TooLarge)
	// TooLarge: the file is over MaxImageBytes, and Data is nil; Cut: the
	// body was over its limit before the file ended.
	TooLarge, Cut bool
}

type uploadsKey struct{}

// formUpload returns the file sent in a form field, or nil when none was
// (an empty file input sends a part with no name and no bytes).
func formUpload(r *http.Request, field string) *upload {
	ups, _ := r.Context().Value(uploadsKey{}).(map[string]*upload)
	u := ups[field]
	if u == nil || (u.Size == 0 && u.Name == "") {
		return nil
	}
	return u
}

// readForm parses a urlencoded or multipart form into r.PostForm and
// r.Form, and returns r with the files of a multipart form in its context
// (formUpload). A multipart form is read as a stream: text fields into
// memory, each file up to MaxImageBytes, the rest of a larger file read
// and dropped, so the fields after it are kept and the handler can say
// what was too large. A body over its limit keeps the fields read before
// the limit; a urlencoded one over it is errTooLarge.
func readForm(r *http.Request) (*http.Request, error) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err := r.ParseForm()
		var maxErr *http.MaxBytesError
		switch {
		case err == nil:
			return r, nil
		case errors.As(err, &maxErr):
			return r, fmt.Errorf("form: %w", errTooLarge)
		default:
			return r, fmt.Errorf("%w: %v", errBadForm, err)
		}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return r, fmt.Errorf("%w: %v", errBadForm, err)
	}
	values := url.Values{}
	ups := map[string]*upload{}
	text := 0
	for parts := 0; ; parts++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if isMaxBytes(err) {
				break // what came before the limit is kept
			}
			return r, fmt.Errorf("%w: %v", errBadForm, err)
		}
		if parts >= maxFormParts {
			return r, fmt.Errorf("%w: more than %d fields", errBadForm, maxFormParts)
		}
		name := p.FormName()
		if name == "" {
			p.Close()
			continue
		}
		if p.FileName() == "" && p.Header.Get("Content-Type") == "" {
			b, err := io.ReadAll(io.LimitReader(p, int64(maxFormText-text)+1))
			if isMaxBytes(err) {
				break
			}
			if err != nil {
				return r, fmt.Errorf("%w: %v", errBadForm, err)
			}
			if text += len(b); text > maxFormText {
				return r, fmt.Errorf("form text over %d KiB: %w", maxFormText>>10, errTooLarge)
			}
			values.Add(name, string(b))
			continue
		}
		u, cut := readUpload(p)
		ups[name] = u
		if cut {
			break
		}
	}
	r.PostForm = values
	r.Form = url.Values{}
	for k, v := range r.URL.Query() {
		r.Form[k] = append(r.Form[k], v...)
	}
	for k, v := range values {
		r.Form[k] = append(r.Form[k], v...)
	}
	r.MultipartForm = &multipart.Form{Value: values, File: map[string][]*multipart.FileHeader{}}
	return r.WithContext(context.WithValue(r.Context(), uploadsKey{}, ups)), nil
}

// readUpload reads one file part: up to MaxImageBytes into memory, the
// rest counted and dropped. cut tells that the body's limit was reached.
func readUpload(p *multipart.Part) (u *upload, cut bool) {
	u = &upload{Name: p.FileName()}
	data, err := io.ReadAll(io.LimitReader(p, MaxImageBytes+1))
	u.Size = int64(len(data))
	if len(data) <= MaxImageBytes && err == nil {
		u.Data = data
		return u, false
	}
	u.TooLarge = len(data) > MaxImageBytes
	if err == nil {
		var n int64
		n, err = io.Copy(io.Discard, p)
		u.Size += n
	}
	if err != nil {
		u.Cut = true
		u.TooLarge = true
		return u, isMaxBytes(err)
	}
	return u, false
}

func isMaxBytes(err error) bool {
	var maxErr *http.MaxBytesError
	return errors.As(err, &maxErr)
}

// uploadError is what the form says of a file it could not take.
type uploadError struct {
	label string // "Avatar", "Cover image"
	msg   string
	err   error // for the status: errTooLarge, community.ErrInvalid
}

func (e *uploadError) Error() string { return e.label + ": " + e.msg }
func (e *uploadError) Unwrap() error { return e.err }

// checkUpload turns an upload that could not be read whole into the
// error the form shows.
func checkUpload(label string, u *upload) error {
	switch {
	case u.Cut:
		return &uploadError{label, fmt.Sprintf("the file %q is larger than the %d MiB a form may send; images may be up to %d MiB. Nothing was changed: choose a smaller file.",
			u.Name, MaxUploadBody>>20, MaxImageBytes>>20), errTooLarge}
	case u.TooLarge:
		return &uploadError{label, fmt.Sprintf("the file %q is %.1f MiB; images may be up to %d MiB. Nothing was changed: choose a smaller file.",
			u.Name, float64(u.Size)/(1<<20), MaxImageBytes>>20), errTooLarge}
	}
	return nil
}
