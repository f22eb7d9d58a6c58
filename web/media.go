package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"

	"github.com/agorafed/agora/community"
	"github.com/go-chi/chi/v5"
)

// Limits on uploaded images.
const (
	MaxImageBytes  = 8 << 20     // the file as uploaded
	MaxImagePixels = 6000 * 6000 // decoded; a small file can claim a huge canvas
)

var errImage = errors.New("image")

// Image is an uploaded image after re-encoding.
type Image struct {
	ID          string // hash of Body with its extension: the name under /media/
	ContentType string
	Body        []byte
}

// ReencodeImage checks an upload and encodes it anew, which drops every
// metadata block (EXIF with GPS positions, comments, ICC profiles): PNG and
// GIF become PNG (a GIF's first frame), JPEG stays JPEG. The type is sniffed
// from the bytes, never taken from the file name or the browser's word.
func ReencodeImage(r io.Reader) (Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImageBytes+1))
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", errImage, err)
	}
	if len(data) > MaxImageBytes {
		return Image{}, fmt.Errorf("%w: larger than %d MiB: %w", errImage, MaxImageBytes>>20, errTooLarge)
	}
	sniffed := http.DetectContentType(data)
	switch sniffed {
	case "image/png", "image/jpeg", "image/gif":
	default:
		return Image{}, fmt.Errorf("%w %w: %s is not PNG, JPEG or GIF", community.ErrInvalid, errImage, sniffed)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Image{}, fmt.Errorf("%w %w: %v", community.ErrInvalid, errImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxImagePixels {
		return Image{}, fmt.Errorf("%w %w: %dx%d pixels is too large", community.ErrInvalid, errImage, cfg.Width, cfg.Height)
	}
	var img image.Image
	switch sniffed {
	case "image/png":
		img, err = png.Decode(bytes.NewReader(data))
	case "image/jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	case "image/gif":
		img, err = gif.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return Image{}, fmt.Errorf("%w %w: %v", community.ErrInvalid, errImage, err)
	}
	var out bytes.Buffer
	out.Grow(len(data))
	ext, ctype := ".png", "image/png"
	if sniffed == "image/jpeg" {
		ext, ctype = ".jpg", "image/jpeg"
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: 88})
	} else {
		err = png.Encode(&out, img)
	}
	if err != nil {
		return Image{}, fmt.Errorf("%w: encode: %v", errImage, err)
	}
	sum := sha256.Sum256(out.Bytes())
	return Image{ID: hex.EncodeToString(sum[:16]) + ext, ContentType: ctype, Body: out.Bytes()}, nil
}

// media serves an uploaded image with the type it was re-encoded to.
func (s *server) media(w http.ResponseWriter, r *http.Request) {
	ctype, body, err := s.Admin.Media(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	// Ids are hashes of the bytes: a new image gets a new URL.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(body)
}
