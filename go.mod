module github.com/leakhound/leakhound

go 1.25

require gopkg.in/yaml.v3 v3.0.1

require (
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/sys v0.38.0 // indirect
)
