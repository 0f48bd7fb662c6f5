#!/bin/sh
# SUMMARY: examples/docker-for-mac (base.yml + docker.yml) builds; examples/docker.yml: the docker package (Debian's engine) on a formatted data disk loads an image tarball made on the host with docker save, runs it with a published port the host reaches, honours the daemon.json bound in from files:; with run qemu --vsock and the port-forwarder package, docker run -p in the VM opens the port on the host and closes it when the container stops; trim-after-delete runs fstrim once for three image deletes within 10 s and once more for a later one
# LABELS: amd64
# TIMEOUT: 900
set -e
. "${RT_LIB}"
. "${RT_PROJECT_ROOT}/_lib/lib.sh"
rt_require_cmd qemu-system-x86_64 docker mmdebstrap vhost-device-vsock /usr/bin/python3

build_packages
make_scratch
# The images, made on the host (there is no Docker Hub): the httpd package's image and four
# one-file images to delete, in one `docker save` tarball.
httpd="linuxkit/httpd:$(linuxkit pkg show-tag "$REPO_ROOT/pkg/httpd" | sed 's/.*://')"
docker_from_cache "$httpd"
mkdir -p "$SCRATCH/ctx"
for i in 1 2 3 4; do
    echo "layer $i $$" > "$SCRATCH/ctx/f"
    printf 'FROM scratch\nCOPY f /f%s\n' "$i" > "$SCRATCH/ctx/Dockerfile"
    docker build -q -t "lk-trim-test/img$i:latest" "$SCRATCH/ctx" > /dev/null
done
docker tag "$httpd" lk-test/httpd:latest
docker save -o "$SCRATCH/images.tar" lk-test/httpd:latest lk-trim-test/img1 lk-trim-test/img2 \
    lk-trim-test/img3 lk-trim-test/img4
docker rmi lk-test/httpd:latest lk-trim-test/img1 lk-trim-test/img2 lk-trim-test/img3 lk-trim-test/img4 > /dev/null

port=$(free_port)
port2=$(free_port)
# examples/docker.yml plus the port-forwarder service (host ports that follow docker run -p,
# through run qemu --vsock).
pkg_paths < "$REPO_ROOT/examples/docker.yml" |
    sed "s|^files:|  - name: port-forwarder\n    image: \"@pkg:$REPO_ROOT/pkg/port-forwarder\"\nfiles:|" > "$SCRATCH/docker.yml"
cat >> "$SCRATCH/docker.yml" <<YML
  - path: etc/init.d/999-test
    mode: "0755"
    contents: |
      #!/bin/sh
      d() { service exec docker docker "\$@"; }
      i=0
      until d info > /dev/null 2>&1 || [ \$i -ge 120 ]; do sleep 1; i=\$((i+1)); done
      echo "DOCKER-UP after \${i}s"
      echo "DOCKER-DEBUG \$(d info --format '{{.Debug}}') root=\$(d info --format '{{.DockerRootDir}}') driver=\$(d info --format '{{.Driver}}')"
      mkdir -p /run/cd && mount -t iso9660 -o ro /dev/sr0 /run/cd
      cp /run/cd/config /var/lib/docker/images.tar
      d load -i /var/lib/docker/images.tar
      rm /var/lib/docker/images.tar
      d run -d --name web -p 8080:80 lk-test/httpd:latest sh -c 'mkdir -p /www && echo hello-from-docker > /www/index.html && exec httpd -f -p 80 -h /www'
      echo "DOCKER-RUNNING \$(d inspect -f '{{.State.Running}}' web)"
      d run -d --name web2 -p $port2:80 lk-test/httpd:latest sh -c 'mkdir -p /www && echo hello-via-forwarder > /www/index.html && exec httpd -f -p 80 -h /www'
      echo "WEB2-""RUNNING"
      sleep 25
      d stop -t 1 web2 > /dev/null
      echo "WEB2-""STOPPED"
      sleep 20
      d rmi lk-trim-test/img1 lk-trim-test/img2 lk-trim-test/img3
      sleep 16
      echo "TRIM-FIRST \$(service logs trim-after-delete 2>&1 | grep -c 'Running /sbin/fstrim')"
      d rmi lk-trim-test/img4
      sleep 16
      echo "TRIM-SECOND \$(service logs trim-after-delete 2>&1 | grep -c 'Running /sbin/fstrim')"
      service logs trim-after-delete 2>&1 | tail -8 | sed 's/^/TRIMLOG /'
      echo "DOCKER""-DONE"
      poweroff
YML
linuxkit build --dir "$SCRATCH" --name docker "$SCRATCH/docker.yml"
# examples/docker-for-mac: base.yml and docker.yml build together into one image.
mkdir -p "$SCRATCH/dfm"
for y in base docker; do
    pkg_paths < "$REPO_ROOT/examples/docker-for-mac/$y.yml" > "$SCRATCH/dfm/$y.yml"
done
linuxkit build --dir "$SCRATCH/dfm" --name dfm "$SCRATCH/dfm/base.yml" "$SCRATCH/dfm/docker.yml"
assert_true "docker-for-mac built" [ -s "$SCRATCH/dfm/dfm-initrd.img" ]
mkdir -p "$SCRATCH/vm"
# One vCPU: QEMU 10.0's multi-threaded TCG has hit an assertion (iotlb_to_section) while
# the guest probed PCI with two.
vm_start "$SCRATCH/vm" "$SCRATCH/docker" --mem 2048 \
    --disk "file=$SCRATCH/docker.img,size=2G,format=raw" --data-file "$SCRATCH/images.tar" \
    --publish "$port:8080" --vsock
vm_wait "DOCKER-RUNNING" 600
page=$(http_get_retry "$port" 30)
echo "from the host: $page"
# docker run -p $port2:80 in the VM: the port-forwarder opens it on the host, and closes it
# when the container stops.
vm_wait "WEB2-RUNNING" 120
page2=$(http_get_retry "$port2" 20)
echo "forwarded from the VM's docker: $page2"
vm_wait "WEB2-STOPPED" 120
closed=$(port_closes "$port2" 15)
vm_wait "DOCKER-DONE" 300
vm_end 120
cp "$VM_LOG" "$RT_RESULTS/docker-console.log"
cp "$SCRATCH/docker-state/vsock.log" "$RT_RESULTS/vsock-host.log" 2> /dev/null || true
c=$(tr -d '\r' < "$VM_LOG")
echo "$c" | grep -E "DOCKER|TRIM|Loaded image" | head -30
assert_equals "the host reached the container's published port" "hello-from-docker" "$page"
assert_equals "docker run -p in the VM opened the port on the host (port-forwarder)" "hello-via-forwarder" "$page2"
assert_equals "the forwarded port closed when the container stopped" "yes" "$closed"
echo "$c" | assert_contains "DOCKER-DEBUG true root=/var/lib/docker driver=overlay2"
echo "$c" | assert_contains "Loaded image: lk-test/httpd:latest"
echo "$c" | assert_contains "DOCKER-RUNNING true"
echo "$c" | assert_contains "TRIM-FIRST 1"
echo "$c" | assert_contains "TRIM-SECOND 2"
assert_true "docker.yml powered off (status $VM_STATUS)" [ "$VM_STATUS" = 0 ]
exit 0
