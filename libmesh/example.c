/* libmesh/example.c: write a block to a mesh volume and read it back.
 *   mesh-example CLUSTER.conf VOLUME */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libmesh/libmesh.h"

int main(int argc, char **argv)
{
	struct mesh_volume_options o = { .config = argv[1], .volume = argv[2] };
	struct mesh_volume *v;
	static char out[4096], in[4096];
	int rc;

	if (argc != 3 || mesh_volume_open(&o, &v))
		return 1;
	snprintf(out, sizeof(out), "hello from libmesh");
	rc = mesh_volume_pwrite(v, out, sizeof(out), 0);
	if (rc == 0)
		rc = mesh_volume_pread(v, in, sizeof(in), 0);
	if (rc == 0 && memcmp(in, out, sizeof(in)) == 0)
		printf("%s: %llu bytes; block 0 reads back: \"%s\"\n", argv[2],
		       (unsigned long long)mesh_volume_bytes(v), in);
	else
		fprintf(stderr, "I/O failed: %s\n", rc ? strerror(-rc) : "data differs");
	mesh_volume_close(v);
	return rc != 0;
}
