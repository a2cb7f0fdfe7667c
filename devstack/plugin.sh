#!/usr/bin/env bash
# devstack plugin for nova-docker: installs the Docker engine and the driver,
# lets the stack user (who runs nova-compute) reach the engine, points
# nova-compute at the driver with the VIF plugin of the Neutron backend,
# installs the rootwrap filters of the driver's privsep daemon, lets Glance
# accept container_format=docker and publishes docker images to Glance.
#
# Phases: stack install, stack post-config, stack extra, clean.

# Glance's default container formats (glance-api.conf [image_format]).
NOVA_DOCKER_GLANCE_FORMATS_DEFAULT=ami,ari,aki,bare,ovf,ova,docker,compressed
NOVA_DOCKER_INSTANCE_LABEL=org.openstack.nova.instance.uuid
# Docker images published to Glance in the extra phase (docker pull first).
NOVA_DOCKER_IMAGES=${NOVA_DOCKER_IMAGES:-busybox}

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

function install_nova_docker {
    install_docker_engine
    setup_develop "$NOVA_DOCKER_DIR"
    give_stack_user_the_docker_socket
    install_nova_docker_rootwrap_filters
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

function configure_nova_docker_compute {
    local conf
    for conf in "$NOVA_CONF" ${NOVA_CPU_CONF:+"$NOVA_CPU_CONF"}; do
        iniset "$conf" DEFAULT compute_driver \
            novadocker.virt.docker.driver.DockerDriver
        iniset "$conf" docker host_url "$DOCKER_HOST_URL"
        iniset "$conf" docker vif_driver "$(nova_docker_vif_driver)"
        iniset "$conf" docker soft_reboot_timeout \
            "$NOVA_DOCKER_SOFT_REBOOT_TIMEOUT"
        iniset "$conf" docker_ovs ovsdb_connection \
            "$NOVA_DOCKER_OVSDB_CONNECTION"
    done
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

# Publish each of NOVA_DOCKER_IMAGES to Glance (docker save | image create).
function publish_docker_images {
    local image
    for image in $NOVA_DOCKER_IMAGES; do
        if openstack image show "$image" >/dev/null 2>&1; then
            continue
        fi
        sudo docker pull "$image"
        sudo docker save "$image" | openstack image create "$image" \
            --public --container-format docker --disk-format raw
    done
}

# Containers of instances left behind (by a failed run or an unstack while
# instances ran).
function clean_nova_docker {
    local ids
    ids=$(sudo docker ps -aq --filter "label=$NOVA_DOCKER_INSTANCE_LABEL")
    if [[ -n "$ids" ]]; then
        # shellcheck disable=SC2086  # one argument per container id
        sudo docker rm -f $ids
    fi
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
    if is_service_enabled n-cpu && is_service_enabled g-api glance; then
        echo_summary "Publishing docker images to Glance"
        publish_docker_images
    fi
elif [[ "$1" == "clean" ]]; then
    if is_service_enabled n-cpu; then
        clean_nova_docker
    fi
fi
