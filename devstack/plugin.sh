#!/usr/bin/env bash
# devstack plugin for nova-docker: installs the Docker engine and the driver,
# lets the stack user (who runs nova-compute) reach the engine, points
# nova-compute at the driver with the VIF plugin of the Neutron backend,
# installs the rootwrap filters of the driver's privsep daemon, lets Glance
# accept container_format=docker, publishes docker images to Glance, fits
# Tempest to a Docker cloud and removes the instances' containers again.
#
# Phases: stack install, stack post-config, stack extra, stack test-config,
# unstack, clean. devstack/override-defaults (read before lib/*) and
# devstack/settings (read after) hold the variables.

# Glance's default container formats (glance-api.conf [image_format]).
NOVA_DOCKER_GLANCE_FORMATS_DEFAULT=ami,ari,aki,bare,ovf,ova,docker,compressed
# How the driver marks its containers (novadocker/virt/docker/client.py):
# nova-<uuid> for an instance, nova-sandbox-<uuid> for its network sandbox,
# nova-rescue-<uuid> for its rescue container (and that one's volume).
NOVA_DOCKER_INSTANCE_LABEL=org.openstack.nova.instance.uuid
NOVA_DOCKER_SANDBOX_LABEL=org.openstack.nova.sandbox.instance.uuid
NOVA_DOCKER_RESCUE_LABEL=org.openstack.nova.rescue.instance.uuid
# The repositories of the images the driver loads from Glance and commits
# for snapshots (novadocker/virt/docker/images.py).
NOVA_DOCKER_DRIVER_REPOSITORIES="openstack-glance openstack-snapshot"
# Where the driver links each container's network namespace (pyroute2).
NOVA_DOCKER_NETNS_DIR=${NOVA_DOCKER_NETNS_DIR:-/var/run/netns}
# The engine's tag of the SSH test image while it is saved to a file.
NOVA_DOCKER_SSH_IMAGE_TAG=nova-docker-devstack/ssh-image:latest
# The feature flags of Tempest for a Docker cloud, shared with the project's
# own Tempest configuration.
NOVA_DOCKER_TEMPEST_CONF=$NOVA_DOCKER_DIR/etc/tempest/docker.conf

# The engine nova-compute uses, as root: the stack user's membership of
# DOCKER_GROUP only counts from its next login.
function docker_engine {
    sudo docker -H "$DOCKER_HOST_URL" "$@"
}

function install_docker_engine {
    if ! command -v dockerd >/dev/null; then
        install_package "$DOCKER_PACKAGE"
    fi
    if command -v systemctl >/dev/null; then
        sudo systemctl enable --now docker
    fi
}

function give_stack_user_the_docker_socket {
    # Membership of the socket's group, never a world-writable socket.
    sudo usermod -a -G "$DOCKER_GROUP" "$STACK_USER"
    local socket=${DOCKER_HOST_URL#unix://}
    if [[ "$DOCKER_HOST_URL" == unix://* && -S "$socket" ]]; then
        if [[ -n "$(find "$socket" -perm -o+w)" ]]; then
            die "$LINENO" "$socket is world-writable: anyone on this host" \
                "could use it to become root. Make it 0660 (group" \
                "$DOCKER_GROUP) and re-run."
        fi
    fi
}

function install_nova_docker_rootwrap_filters {
    # What nova-compute's root helper may run for nova-docker: only the
    # privsep daemon of novadocker.privsep.sys_admin_pctxt.
    sudo install -d -o root -g root -m 755 "$NOVA_CONF_DIR/rootwrap.d"
    sudo install -o root -g root -m 644 \
        "$NOVA_DOCKER_DIR/etc/rootwrap.d/docker.filters" \
        "$NOVA_CONF_DIR/rootwrap.d/docker.filters"
}

# Whether this node publishes the images (as devstack uploads its own
# where Glance runs); it needs an engine, so nova-compute too.
function nova_docker_publishes_images {
    is_service_enabled n-cpu && is_service_enabled g-api glance
}

function install_nova_docker {
    install_docker_engine
    setup_develop "$NOVA_DOCKER_DIR"
    give_stack_user_the_docker_socket
    install_nova_docker_rootwrap_filters
    if nova_docker_publishes_images; then
        # What the SSH test image is made of (novadocker_cloud/ssh_image.py).
        # shellcheck disable=SC2086  # one argument per package
        install_package $NOVA_DOCKER_SSH_IMAGE_PACKAGES
    fi
}

# The [docker] vif_driver for the Neutron backend of this cloud.
function nova_docker_vif_driver {
    if [[ -n "$NOVA_DOCKER_VIF_DRIVER" ]]; then
        echo "$NOVA_DOCKER_VIF_DRIVER"
    elif [[ "${Q_AGENT:-}" == "opencontrail" ]] || \
            is_service_enabled contrail vrouter; then
        echo vrouter
    elif [[ "${Q_AGENT:-}" == "ovn" ]] || \
            is_service_enabled ovn-controller q-ovn-metadata-agent; then
        echo ovn
    elif [[ ",${Q_ML2_PLUGIN_MECHANISM_DRIVERS:-}," == *,opendaylight*,* ]]
    then
        echo odl
    else
        # OVS (native or hybrid) and Linux bridge ports, told apart by each
        # port's binding.
        echo generic
    fi
}

# nova.conf only: start_nova_compute makes nova-cpu.conf a copy of it (then
# merges local.conf's [[post-config|$NOVA_CPU_CONF]]), so what is written
# to nova-cpu.conf before is lost, and what is in nova.conf reaches
# nova-compute, on a compute-only node too.
function configure_nova_docker_compute {
    # stack.sh runs configure_neutron_nova in the background from before
    # this phase and waits for it only after. Both rewrite $NOVA_CONF with
    # iniset (sed -i: read the file, write a copy, rename it over), so
    # writing now loses keys of one or the other, compute_driver included.
    # Collected here, stack.sh's own async_wait has nothing left to do.
    async_wait configure_neutron_nova
    iniset "$NOVA_CONF" DEFAULT compute_driver \
        novadocker.virt.docker.driver.DockerDriver
    iniset "$NOVA_CONF" docker host_url "$DOCKER_HOST_URL"
    iniset "$NOVA_CONF" docker vif_driver "$(nova_docker_vif_driver)"
    iniset "$NOVA_CONF" docker soft_reboot_timeout \
        "$NOVA_DOCKER_SOFT_REBOOT_TIMEOUT"
    iniset "$NOVA_CONF" docker_ovs ovsdb_connection \
        "$NOVA_DOCKER_OVSDB_CONNECTION"
}

# Add "docker" to Glance's container formats, keeping the others.
function configure_glance_for_docker_images {
    local formats
    formats=$(iniget "$GLANCE_API_CONF" image_format container_formats)
    formats=${formats:-$NOVA_DOCKER_GLANCE_FORMATS_DEFAULT}
    if [[ ",$formats," != *,docker,* ]]; then
        formats="$formats,docker"
    fi
    iniset "$GLANCE_API_CONF" image_format container_formats "$formats"
}

function configure_nova_docker {
    if is_service_enabled n-cpu; then
        configure_nova_docker_compute
    fi
    if is_service_enabled g-api glance; then
        configure_glance_for_docker_images
    fi
}

function nova_docker_glance_has {
    openstack --os-cloud=devstack-admin --os-region-name="$REGION_NAME" \
        image show "$1" >/dev/null 2>&1
}

# Upload the "docker save" file $2 as the public image $1, unless there is
# one. Always with --file and an absolute path: devstack's
# openstack-cli-server (on in its CI jobs) does not pass stdin on and
# refuses "image create" without --file, and it opens the file itself, as
# the stack user, from its own working directory.
function upload_nova_docker_image {
    local name=$1
    local file
    file=$(readlink -f "$2")
    if nova_docker_glance_has "$name"; then
        return 0
    fi
    local import=""
    if [[ "${GLANCE_USE_IMPORT_WORKFLOW:-False}" == "True" ]]; then
        import=--import
    fi
    openstack --os-cloud=devstack-admin --os-region-name="$REGION_NAME" \
        image create "$name" --public --container-format docker \
        --disk-format raw ${import:+"$import"} --file "$file"
}

# Build the SSH test image in the engine with the project's builder, write
# its "docker save" file to $1 (owned by the stack user) and untag it.
function build_nova_docker_ssh_image {
    local file=$1
    sudo "$PYTHON" - "$NOVA_DOCKER_DIR" "$DOCKER_HOST_URL" \
        "$NOVA_DOCKER_SSH_IMAGE_TAG" <<'EOF'
import sys

sys.path.insert(0, sys.argv[1])
import docker  # noqa: E402

from novadocker_cloud import ssh_image  # noqa: E402

with docker.APIClient(base_url=sys.argv[2]) as api:
    ssh_image.build(api, sys.argv[3])
EOF
    docker_engine save "$NOVA_DOCKER_SSH_IMAGE_TAG" > "$file.new"
    mv "$file.new" "$file"
    docker_engine rmi "$NOVA_DOCKER_SSH_IMAGE_TAG" >/dev/null
}

function nova_docker_ssh_image_file {
    echo "$NOVA_DOCKER_DATA_DIR/ssh-image.tar"
}

# The SSH test image under its two names, then NOVA_DOCKER_IMAGES pulled
# from their registry.
function publish_nova_docker_images {
    local file image
    mkdir -p "$NOVA_DOCKER_DATA_DIR"
    file=$(nova_docker_ssh_image_file)
    build_nova_docker_ssh_image "$file"
    upload_nova_docker_image "$NOVA_DOCKER_IMAGE_NAME" "$file"
    upload_nova_docker_image "$NOVA_DOCKER_IMAGE_ALT_NAME" "$file"
    file=$NOVA_DOCKER_DATA_DIR/registry-image.tar
    for image in $NOVA_DOCKER_IMAGES; do
        if nova_docker_glance_has "$image"; then
            continue
        fi
        docker_engine pull "$image"
        docker_engine save "$image" > "$file"
        upload_nova_docker_image "$image" "$file"
        rm -f "$file"
    done
}

function nova_docker_image_id {
    local id
    id=$(openstack --os-cloud=devstack-admin --os-region-name="$REGION_NAME" \
        image show -f value -c id "$1")
    if [[ -z "$id" ]]; then
        die "$LINENO" "No Glance image $1: the node with Glance publishes" \
            "it when it runs nova-compute too (extra phase)."
    fi
    echo "$id"
}

# Tempest for a Docker cloud: every key of etc/tempest/docker.conf, then
# the images this plugin published (after lib/tempest wrote tempest.conf:
# devstack runs its own test-config before the plugins').
function configure_tempest_for_nova_docker {
    local section="" line
    local comment='^[[:space:]]*([#;].*)?$'
    local header='^\[([^]]+)\][[:space:]]*$'
    local option='^([^=[:space:]]+)[[:space:]]*=[[:space:]]*'
    option+='(.*[^[:space:]])[[:space:]]*$'
    while IFS= read -r line || [[ -n "$line" ]]; do
        if [[ "$line" =~ $comment ]]; then
            continue
        elif [[ "$line" =~ $header ]]; then
            section=${BASH_REMATCH[1]}
        elif [[ -n "$section" && "$line" =~ $option ]]; then
            iniset "$TEMPEST_CONFIG" "$section" "${BASH_REMATCH[1]}" \
                "${BASH_REMATCH[2]}"
        else
            die "$LINENO" "$NOVA_DOCKER_TEMPEST_CONF: not a section," \
                "option = value or comment line: $line"
        fi
    done < "$NOVA_DOCKER_TEMPEST_CONF"
    local image_ref image_ref_alt
    image_ref=$(nova_docker_image_id "$NOVA_DOCKER_IMAGE_NAME")
    image_ref_alt=$(nova_docker_image_id "$NOVA_DOCKER_IMAGE_ALT_NAME")
    iniset "$TEMPEST_CONFIG" compute image_ref "$image_ref"
    iniset "$TEMPEST_CONFIG" compute image_ref_alt "$image_ref_alt"
    # What the scenario tests upload themselves: the same SSH image.
    iniset "$TEMPEST_CONFIG" scenario img_file "$(nova_docker_ssh_image_file)"
    iniset "$TEMPEST_CONFIG" scenario img_container_format docker
    iniset "$TEMPEST_CONFIG" scenario img_disk_format raw
}

# The driver's containers (instances, their network sandboxes and rescue
# containers), the rescue volumes, their namespace links, and their ports on
# Open vSwitch with the hybrid plug's bridge and veth pair. A container
# counts only if named after its label: one made by hand from a snapshot
# carries the labels too.
function remove_nova_docker_instances {
    if ! docker_engine version >/dev/null 2>&1; then
        warn "$LINENO" "Docker engine at $DOCKER_HOST_URL unreachable: its\
 nova-docker containers were not removed"
        return 0
    fi
    local ids=() uuids=() pair label prefix id name uuid port device volume
    for pair in "$NOVA_DOCKER_INSTANCE_LABEL nova-" \
                "$NOVA_DOCKER_SANDBOX_LABEL nova-sandbox-" \
                "$NOVA_DOCKER_RESCUE_LABEL nova-rescue-"; do
        read -r label prefix <<< "$pair"
        while read -r id name uuid; do
            if [[ -n "$uuid" && "$name" == "$prefix$uuid" ]]; then
                ids+=("$id")
                uuids+=("$uuid")
            fi
        done < <(docker_engine ps -a --no-trunc --filter "label=$label" \
                     --format "{{.ID}} {{.Names}} {{.Label \"$label\"}}")
    done
    if [[ ${#ids[@]} -gt 0 ]]; then
        docker_engine rm -f "${ids[@]}" >/dev/null
    fi
    # With its container gone, the engine has unmounted a rescue volume.
    for volume in $(docker_engine volume ls -q \
                        --filter "label=$NOVA_DOCKER_RESCUE_LABEL"); do
        docker_engine volume rm "$volume" >/dev/null
    done
    if [[ ${#ids[@]} -eq 0 ]]; then
        return 0
    fi
    for id in "${ids[@]}"; do
        if [[ -e "$NOVA_DOCKER_NETNS_DIR/$id" ]]; then
            sudo ip netns delete "$id"
        fi
    done
    if ! command -v ovs-vsctl >/dev/null; then
        return 0
    fi
    for uuid in $(printf '%s\n' "${uuids[@]}" | sort -u); do
        for port in $(sudo ovs-vsctl --bare --columns=name find Interface \
                          "external_ids:vm-uuid=$uuid"); do
            sudo ovs-vsctl --if-exists del-port "$port"
            if [[ "$port" == qvo* ]]; then
                for device in "qvb${port#qvo}" "qbr${port#qvo}"; do
                    if ip link show "$device" >/dev/null 2>&1; then
                        sudo ip link delete "$device"
                    fi
                done
            fi
        done
    done
}

# unstack: nova-compute first (stop_nova stops it right after this phase),
# so that it does not act on its containers going away; then the
# containers, as lib/nova's cleanup_nova destroys libvirt's domains.
function stop_nova_docker {
    stop_process n-cpu
    remove_nova_docker_instances
}

# clean (after unstack.sh): whatever is left, the images the driver loaded
# or committed (their Glance is gone with its database), the plugin's files.
function clean_nova_docker {
    local repository tag
    remove_nova_docker_instances
    if docker_engine version >/dev/null 2>&1; then
        for repository in $NOVA_DOCKER_DRIVER_REPOSITORIES; do
            for tag in $(docker_engine images \
                             --format '{{.Repository}}:{{.Tag}}' \
                             "$repository"); do
                if ! docker_engine rmi "$tag" >/dev/null; then
                    warn "$LINENO" "image $tag not removed"
                fi
            done
        done
        if [[ -n "$(docker_engine images -q "$NOVA_DOCKER_SSH_IMAGE_TAG")" ]]
        then
            docker_engine rmi "$NOVA_DOCKER_SSH_IMAGE_TAG" >/dev/null
        fi
    fi
    sudo rm -rf "$NOVA_DOCKER_DATA_DIR"
    sudo rm -f "$NOVA_CONF_DIR/rootwrap.d/docker.filters"
}

if [[ "$1" == "stack" && "$2" == "install" ]]; then
    if is_service_enabled n-cpu; then
        echo_summary "Installing nova-docker"
        install_nova_docker
    fi
elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Configuring nova-docker"
    configure_nova_docker
elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    if nova_docker_publishes_images; then
        echo_summary "Publishing docker images to Glance"
        publish_nova_docker_images
    fi
elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
    if is_service_enabled tempest; then
        echo_summary "Configuring Tempest for nova-docker"
        configure_tempest_for_nova_docker
    fi
elif [[ "$1" == "unstack" ]]; then
    if is_service_enabled n-cpu; then
        stop_nova_docker
    fi
elif [[ "$1" == "clean" ]]; then
    if is_service_enabled n-cpu; then
        clean_nova_docker
    fi
fi
