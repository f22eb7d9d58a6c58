package storage

import (
	"encoding/json"

	"github.com/agorafed/agora/community"
)

// attachmentJSON is how an attachment is kept in posts.attachments, by
// every backend (storage/migrate copies the column as it is); the field
// names are part of the schema, so they are spelled out here rather than
// taken from community.Attachment.
type attachmentJSON struct {
	URL       string `json:"url"`
	MediaType string `json:"media_type"`
	Alt       string `json:"alt"`
}

// EncodeAttachments is the posts.attachments column of a post's
// attachments.
func EncodeAttachments(as []community.Attachment) (string, error) {
	out := make([]attachmentJSON, len(as))
	for i, a := range as {
		out[i] = attachmentJSON{URL: a.URL, MediaType: a.MediaType, Alt: a.Alt}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// DecodeAttachments reads the posts.attachments column; none is nil.
func DecodeAttachments(s string) ([]community.Attachment, error) {
	var in []attachmentJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]community.Attachment, len(in))
	for i, a := range in {
		out[i] = community.Attachment{URL: a.URL, MediaType: a.MediaType, Alt: a.Alt}
	}
	return out, nil
}
