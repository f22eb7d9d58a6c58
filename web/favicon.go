package web

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
)

// favicon serves the site's icon: static/favicon.svg for browsers that
// take SVG (the layout links it), and /favicon.ico, which browsers ask for
// by name and Misskey falls back to (fetchFaviconUrl in
// packages/backend/src/core/FetchInstanceMetadataService.ts), as the same picture in a
// 32x32 PNG inside an ICO container (an ICO may hold a PNG since Windows
// Vista; every current browser reads it).
func favicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=86400")
	if strings.HasSuffix(r.URL.Path, ".svg") {
		b, _ := staticFS.ReadFile("static/favicon.svg")
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "image/x-icon")
	w.Write(faviconICO)
}

// faviconICO is favicon.svg drawn at 32x32: a blue rounded square with
// three white discs.
var faviconICO = func() []byte {
	const size = 32
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	blue := color.NRGBA{0x1f, 0x5f, 0xbf, 0xff}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	discs := [][2]float64{{16, 10}, {9, 21}, {23, 21}}
	for y := range size {
		for x := range size {
			px, py := float64(x)+.5, float64(y)+.5
			if !inRoundedSquare(px, py, size, 7) {
				continue
			}
			c := blue
			for _, d := range discs {
				if dx, dy := px-d[0], py-d[1]; dx*dx+dy*dy <= 4.5*4.5 {
					c = white
				}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var pngData bytes.Buffer
	if err := png.Encode(&pngData, img); err != nil {
		panic(err)
	}
	// ICONDIR (6 bytes), one ICONDIRENTRY (16 bytes), then the PNG.
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [3]uint16{0, 1, 1})
	binary.Write(&b, binary.LittleEndian, struct {
		W, H, Colors, Reserved uint8
		Planes, BitCount       uint16
		Size, Offset           uint32
	}{size, size, 0, 0, 1, 32, uint32(pngData.Len()), 22})
	b.Write(pngData.Bytes())
	return b.Bytes()
}()

func inRoundedSquare(x, y, size, radius float64) bool {
	cx := min(max(x, radius), size-radius)
	cy := min(max(y, radius), size-radius)
	dx, dy := x-cx, y-cy
	return dx*dx+dy*dy <= radius*radius
}
